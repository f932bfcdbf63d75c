"""Processing algorithms of the ``pantiny`` provider.

``ALGORITHMS`` lists the QgsProcessingAlgorithm subclasses the provider instantiates in
``loadAlgorithms()``.  Modules imported here must NOT import torch at module level
(import it inside ``processAlgorithm`` or a helper it calls).
"""

from .evaluate_qnr import EvaluateQnrAlgorithm
from .evaluate_reduced import EvaluateReducedAlgorithm
from .pansharpen import PansharpenAlgorithm
from .pansharpen_classical import PansharpenClassicalAlgorithm

ALGORITHMS: list = [
    PansharpenAlgorithm,
    PansharpenClassicalAlgorithm,
    EvaluateQnrAlgorithm,
    EvaluateReducedAlgorithm,
]
