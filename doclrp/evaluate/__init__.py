"""Faithfulness of explanations, to hold LRP against other methods with intervals you can cite.

>>> from doclrp.evaluate import abpc, bootstrap_interval, perturbation_curves, randomization_check
>>> from doclrp.evaluate import aopc, compare_methods, deletion_drops  # the measures of doclrp 0.x

- :mod:`~doclrp.evaluate.perturbation`: MoRF and LeRF curves on the model's token ids
  (deletion and replacement), for the explained target's weights;
- :mod:`~doclrp.evaluate.measures`: ABPC, comprehensiveness, sufficiency, AOPC and its
  normalization by the bounds of each model;
- :mod:`~doclrp.evaluate.uncertainty`: bootstrap intervals and paired differences;
- :mod:`~doclrp.evaluate.sanity`: model randomization (Adebayo et al. 2018);
- :mod:`~doclrp.evaluate.planted`: a planted trigger word, trained in the run;
- :mod:`~doclrp.evaluate.suite`: all of them over several methods, as plain data
  (``doclrp evaluate --report``);
- :mod:`~doclrp.evaluate.deletion`, :mod:`~doclrp.evaluate.compare`: words cut from the
  text (drops, curves, AOPC) and the printed table of ``doclrp evaluate``.

The baselines compared (gradient×input, saliency, integrated gradients, occlusion, random)
live in :mod:`doclrp.core.baselines`.
"""

from doclrp.evaluate.compare import MethodScore, compare_methods, iter_method_scores, skipped_line
from doclrp.evaluate.deletion import ORDERS, aopc, deletion_curve, deletion_drops
from doclrp.evaluate.measures import (abpc, aopc_bounds, aopc_per_document, comprehensiveness, normalized_aopc,
                                      sufficiency)
from doclrp.evaluate.perturbation import DIRECTIONS, MODES, SHARES, perturbation_curves, removal_order
from doclrp.evaluate.planted import planted_documents, train_planted_model, trigger_recovery
from doclrp.evaluate.sanity import RANDOMIZATIONS, randomization_check, randomized_model, spearman
from doclrp.evaluate.uncertainty import Interval, bootstrap_interval, paired_difference

__all__ = [
    "deletion_drops", "deletion_curve", "aopc", "ORDERS", "compare_methods", "iter_method_scores", "MethodScore",
    "skipped_line",
    "SHARES", "DIRECTIONS", "MODES", "perturbation_curves", "removal_order",
    "abpc", "aopc_per_document", "comprehensiveness", "sufficiency", "aopc_bounds", "normalized_aopc",
    "Interval", "bootstrap_interval", "paired_difference",
    "RANDOMIZATIONS", "randomized_model", "randomization_check", "spearman",
    "planted_documents", "train_planted_model", "trigger_recovery",
]
