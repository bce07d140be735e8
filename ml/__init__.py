"""Age estimation from face photos: a small library with no Django in it.

Serving (what the site's workers import; LiteRT, OpenCV, dlib and NumPy only):

- ``ml.inference``: ``Estimator().estimate(photo)``, every face with its age; the shipped
  models in ``ml/models/`` (each ``model.tflite`` beside the ``model.keras`` it came from).
- ``ml.faces``: decoding (EXIF rotation, 16-bit, alpha), the face detectors, alignment, crops.
- ``ml.ages``: the age maths: expected value, intervals, the eight groups.
- ``ml.tracking``: following faces from one live frame to the next.
- ``ml.data``: the labelled-data format both sides share (UTKFace names, the fixed split,
  the site's data-set exports); standard library only.

Training and research (``ml.training``; TensorFlow, Keras, torch): the face cache,
augmentation, the backbone, training, evaluation, experiments, scenes, the report, the
rival and the benchmark. Serving never imports it (``tests/ml/test_inference.py`` checks).
"""
