"""Hugging Face ``transformers`` encoders as doclrp pipelines: load, fine-tune, explain.

>>> from doclrp.models.hf import load_hf_pipeline, train_hf, minilm_path
>>> pipeline = load_hf_pipeline("minilm-bbc")        # doctest: +SKIP
>>> pipeline.default_composite                       # doctest: +SKIP
'attnlrp'

Importing this package registers the attention-aware composites ``"cp-lrp"`` and
``"attnlrp"`` (:mod:`doclrp.core.transformer_composites`); ``transformers`` itself is
imported only when a model is loaded or trained.
"""

from doclrp.core import transformer_composites as _transformer_composites  # noqa: F401  (registers the composites)
from doclrp.models.hf.pipeline import DOCLRP_JSON, HFPipeline, load_hf_pipeline
from doclrp.models.hf.train import MINILM_PACKAGE, minilm_path, train_hf

__all__ = ["HFPipeline", "load_hf_pipeline", "train_hf", "minilm_path", "MINILM_PACKAGE", "DOCLRP_JSON"]
