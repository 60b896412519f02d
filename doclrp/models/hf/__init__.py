"""Hugging Face ``transformers`` encoders as doclrp pipelines: load, fine-tune, explain.

>>> from doclrp.models.hf import load_hf_pipeline, train_hf, minilm_path
>>> pipeline = load_hf_pipeline("minilm-bbc")        # doctest: +SKIP
>>> pipeline.default_composite                       # doctest: +SKIP
'attnlrp'

The attention-aware composites ``"cp-lrp"`` and ``"attnlrp"`` are
:mod:`doclrp.models.hf.composites` (the core imports it by name on first use), where
each module of a family is :mod:`doclrp.models.hf.layouts`, the family-specific rules
:mod:`doclrp.models.hf.rules`; ``transformers`` itself is imported only when a model is
loaded or trained.
"""

from doclrp.models.hf.pipeline import DOCLRP_JSON, HFPipeline, load_hf_pipeline
from doclrp.models.hf.train import MINILM_PACKAGE, minilm_path, train_hf

__all__ = ["HFPipeline", "load_hf_pipeline", "train_hf", "minilm_path", "MINILM_PACKAGE", "DOCLRP_JSON"]
