from django.urls import path

from . import views

app_name = "feedback"

urlpatterns = [
    path("privacy/", views.privacy, name="privacy"),
    path("my-data/", views.my_data, name="my-data"),
    path("my-data/download/", views.download, name="download"),
    path("my-data/withdraw/<int:feedback_id>/", views.withdraw, name="withdraw"),
    path("my-data/withdraw-all/", views.withdraw_all, name="withdraw-all"),
    path("my-data/faces/<int:feedback_id>/crop/", views.own_crop, name="own-crop"),
    path("review/", views.review, name="review"),
    path("review/dashboard/", views.dashboard, name="dashboard"),
    path("review/photos/<uuid:prediction_id>/", views.staff_photo, name="staff-photo"),
]
