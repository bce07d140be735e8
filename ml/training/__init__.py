"""Training and research on the data set: everything here may import TensorFlow and Keras.

``python -m ml.training.<module>``: ``train`` (a config in ``configs/``), ``evaluate`` (the
shipped models through the whole pipeline), ``scenes`` (faces placed in larger photos),
``experiments``, ``report``, ``bench``, ``litert`` (convert an export for serving), ``cache``.
"""
