"""Studies of the models: everything here measures; nothing here is needed to train or serve.

``python -m ml.studies.<module>``: ``evaluate`` (the shipped models through the whole
pipeline; also ``python -m ml.evaluate``), ``scenes`` (faces placed in larger photos;
``camera``: what a phone does to them), ``sensitivity`` (one photo-like change at a time),
``experiments`` (the comparisons and the ensemble members), ``report`` (tables and figures
for the model card), ``rival`` (the baseline we compare against) and ``bench`` (speed).
"""
