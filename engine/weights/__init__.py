"""Model weights: checkpoint files and the models bundled with the plugin.

* :mod:`.checkpoint`: safe checkpoint format (JSON metadata + raw tensors, SHA-256),
  save, load, build the model (torch imported lazily);
* :mod:`.model_zoo`: the bundled models listed in ``resources/models/index.json``
  (no torch).
"""
