from django.urls import path

from .apis import ModelVersionListApi

urlpatterns = [
    path("", ModelVersionListApi.as_view(), name="model-version-list"),
]
