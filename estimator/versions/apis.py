"""REST API of model versions (staff only): HTTP to a selector, nothing more."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.permissions import IsAdminUser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ..feedback.apis import STAFF_ONLY
from .selectors import model_version_summaries
from .serializers import ModelVersionSerializer


class ModelVersionListApi(APIView):
    permission_classes = [IsAdminUser]

    @extend_schema(
        summary="Every registered model version with its error on reviewed faces and its shadow comparison",
        responses={200: ModelVersionSerializer(many=True), 403: STAFF_ONLY},
    )
    def get(self, request: Request) -> Response:
        return Response(ModelVersionSerializer(model_version_summaries(), many=True).data)
