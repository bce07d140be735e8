from django.urls import path

from .apis import ReviewCropApi, ReviewDetailApi, ReviewListApi

urlpatterns = [
    path("feedback/", ReviewListApi.as_view(), name="review-list"),
    path("feedback/<int:feedback_id>/", ReviewDetailApi.as_view(), name="review-detail"),
    path("feedback/<int:feedback_id>/crop/", ReviewCropApi.as_view(), name="review-crop"),
]
