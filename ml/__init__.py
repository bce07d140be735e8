"""Age estimation library: data, face pipeline, models, training and inference.

Plain Python with no Django in it. TensorFlow is imported lazily, only where a model
is built, trained or converted (serving runs on LiteRT), so importing ``ml`` (or
``ml.inference``) stays cheap.
"""
