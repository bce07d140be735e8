"""Feedback, consent, review and the data set: a person's answers about faces (``answers``),
consent to keep a face's training crop (``consent``), staff's verdicts (``review``) and the
release ``ml/`` trains on (``export``), with their selectors, APIs and pages.
"""
