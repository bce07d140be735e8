"""Feedback, consent and the reviewed data set: services, selectors, APIs and pages.

The loop: a person answers "About right?" for a face on the result page (``services.
feedback_set``), optionally consenting to keep its training crop; staff review what came
in; ``export_dataset`` writes the accepted, consented faces for ``ml/``; photos themselves
are deleted after the retention period (``services.photos_delete_expired``).
"""
