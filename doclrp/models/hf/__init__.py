"""Hugging Face ``transformers`` encoders as doclrp pipelines: load and explain.

>>> from doclrp.models.hf import load_hf_pipeline, minilm_path
>>> pipeline = load_hf_pipeline("minilm-bbc")        # doctest: +SKIP
>>> pipeline.default_composite                       # doctest: +SKIP
'attnlrp'

Importing this package registers the attention-aware composites ``"cp-lrp"`` and
``"attnlrp"`` (:mod:`doclrp.core.transformer_composites`); ``transformers`` itself is
imported only when a model is loaded. Fine-tuning lives in :mod:`doclrp.training.hf`
(``train_hf``), which imports from here, never the reverse.
"""

from doclrp.core import transformer_composites as _transformer_composites  # noqa: F401  (registers the composites)
from doclrp.models.hf.minilm import MINILM_PACKAGE, minilm_path
from doclrp.models.hf.pipeline import DOCLRP_JSON, HFPipeline, load_hf_pipeline

__all__ = ["HFPipeline", "load_hf_pipeline", "minilm_path", "MINILM_PACKAGE", "DOCLRP_JSON"]
