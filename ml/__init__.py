"""Age estimation from face photos: a small library with no Django in it.

Serving (what the site imports; LiteRT, OpenCV, dlib and NumPy only):

- ``ml.inference``: the serving interface: ``Estimator().estimate(photo)``,
  ``.estimate_frame(frame)`` and ``training_crop(photo, box=..., landmarks=...)``; the
  shipped models in ``ml/models/`` (each ``model.tflite`` beside its ``model.keras``).
- ``ml.spec``: ``ModelSpec``, what a model folder's ``meta.json`` says, parsed once.
- ``ml.faces``: decoding (EXIF rotation, 16-bit, alpha), YuNet detection, alignment, crops.
- ``ml.ages``: the age maths: expected value, intervals, the eight groups, ``summarize``.
- ``ml.tracking``: following faces from one live frame to the next.
- ``ml.data``: the labelled-data format both sides share (UTKFace names, the fixed split,
  the site's data-set exports); standard library only.

Training (``ml.training``; TensorFlow, Keras, torch): what ``make train`` runs: the face
cache, augmentation, the backbone, the model, training, the LiteRT export, the HOG detector
and the Keras runtime. The studies (``ml.studies``): evaluation (``python -m ml.evaluate``),
scenes, sensitivity, experiments, the report, the rival and the benchmark. Serving never
imports either (``tests/ml/test_inference.py`` checks).
"""
