"""Hugging Face ``transformers`` encoders as doclrp pipelines: load and explain.

>>> from doclrp.models.hf import load_hf_pipeline, minilm_path
>>> pipeline = load_hf_pipeline("minilm-bbc")        # doctest: +SKIP
>>> pipeline.default_composite                       # doctest: +SKIP
'attnlrp'

The attention-aware composites ``"cp-lrp"`` and ``"attnlrp"`` are
:mod:`doclrp.models.hf.composites` (the core finds them through the entry points of its registry, on first use), where
each module of a family is :mod:`doclrp.models.hf.layouts`, the family-specific rules
:mod:`doclrp.models.hf.rules`; ``transformers`` itself is imported only when a model is
loaded. Fine-tuning lives in :mod:`doclrp.training.hf` (``train_hf``), which imports
from here, never the reverse.
"""

from doclrp.models.hf.minilm import MINILM_PACKAGE, minilm_path
from doclrp.models.hf.pipeline import DOCLRP_JSON, HFPipeline, load_hf_pipeline

__all__ = ["HFPipeline", "load_hf_pipeline", "minilm_path", "MINILM_PACKAGE", "DOCLRP_JSON"]
