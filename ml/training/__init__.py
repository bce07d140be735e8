"""Training: what ``make train`` runs; everything here may import TensorFlow and Keras.

``python -m ml.training.<module>``: ``train`` (a config in ``configs/``), ``cache`` (the face
crops of the data set), ``litert`` (convert an export for serving), ``gpu_train`` (several
trainings side by side on a GPU host). Also here: augmentation, the backbone, the model, the
HOG detector the first models were trained on (``detectors``) and the Keras runtime.
The studies that measure the results live in ``ml.studies``.
"""
