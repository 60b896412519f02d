"""Training text, Hugging Face and image models, with one metrics module and one set of defaults.

>>> from doclrp.training import train, train_hf, train_image_model
>>> from doclrp.models.registry import MODEL_KINDS
>>> list(MODEL_KINDS)
['bag', 'bow', 'cnn', 'lstm']
>>> pipeline = train("bbc", model="bow", epochs=2, progress=False)  # doctest: +SKIP

- :mod:`~doclrp.training.text`: :func:`train`, the ready text models (the model kinds) on a corpus;
- :mod:`~doclrp.training.hf`: :func:`train_hf`, fine-tuning a Hugging Face model folder;
- :mod:`~doclrp.training.image`: :func:`train_image_model`, the image models;
- :mod:`~doclrp.training.metrics`: accuracy, macro-F1, RMSE, R², for all three;
- :mod:`~doclrp.training.scaling`: standardized regression targets, folded back into the model;
- :mod:`~doclrp.training.defaults`: lengths and batch sizes of text models, epochs and learning
  rates of Hugging Face and image models, per device (each text model kind declares its own).

Training imports from :mod:`doclrp.models` and :mod:`doclrp.corpus`, never the reverse.
"""

from doclrp.training.defaults import HF_CPU_DEFAULTS, HF_DEFAULTS, IMAGE_DEFAULTS, TEXT_DEFAULTS, hf_defaults
from doclrp.training.hf import train_hf
from doclrp.training.image import train_image_model
from doclrp.training.metrics import accuracy, prediction_metrics
from doclrp.training.scaling import TargetScaling
from doclrp.training.text import TrainingSettings, train

__all__ = [
    "train", "TrainingSettings", "train_hf", "train_image_model",
    "accuracy", "prediction_metrics", "TargetScaling",
    "TEXT_DEFAULTS", "HF_DEFAULTS", "HF_CPU_DEFAULTS", "IMAGE_DEFAULTS", "hf_defaults",
]
