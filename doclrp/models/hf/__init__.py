"""Hugging Face ``transformers`` encoders as doclrp pipelines: load and explain.

>>> from doclrp.models.hf import load_hf_pipeline, minilm_path
>>> pipeline = load_hf_pipeline("minilm-bbc")        # doctest: +SKIP
>>> pipeline.default_composite                       # doctest: +SKIP
'attnlrp'

Causal language models with a prompt: :class:`PromptedClassifier` (label words' scores as
outputs, :mod:`doclrp.models.hf.label_scores`) and :class:`PromptedLM` (the model that
``doclrp.explain_generation`` explains, :mod:`doclrp.models.hf.prompted`).

The attention-aware composites ``"cp-lrp"`` and ``"attnlrp"`` are
:mod:`doclrp.models.hf.composites` (the core finds them through the entry points of its registry, on first use), where
each module of a family is :mod:`doclrp.models.hf.layouts`, the family-specific rules
:mod:`doclrp.models.hf.rules`; ``transformers`` itself is imported only when a model is
loaded. Fine-tuning lives in :mod:`doclrp.training.hf` (``train_hf``), which imports
from here, never the reverse.
"""

from doclrp.models.hf.minilm import MINILM_PACKAGE, minilm_path
from doclrp.models.hf.pipeline import DOCLRP_JSON, HFPipeline, load_hf_pipeline
from doclrp.models.hf.prompted import PromptedLM, PromptTemplate, load_prompted_lm
from doclrp.models.hf.label_scores import LabelScores, PromptedClassifier, load_prompted_classifier

__all__ = ["HFPipeline", "load_hf_pipeline", "minilm_path", "MINILM_PACKAGE", "DOCLRP_JSON", "PromptedLM",
           "PromptTemplate", "load_prompted_lm", "LabelScores", "PromptedClassifier", "load_prompted_classifier"]
