"""REST API: translate HTTP to the services and selectors, nothing more."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle, ScopedRateThrottle
from rest_framework.views import APIView

from ageweb.api_errors import ErrorSerializer
from ageweb.http import found_or_404, request_user

from ..files import file_response
from ..images import DECODERS_BUSY_RETRY_AFTER, DecodersBusy
from ..models import Prediction
from .selectors import NO_SUCH_PREDICTION, prediction_get, prediction_list
from .serializers import PredictionCreateSerializer, PredictionSerializer
from .services import TooManyUnfinished, prediction_create, prediction_delete


class TooManyUnfinishedError(APIException):
    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_code = "too_many_unfinished"


class DecodersBusyError(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "unavailable"
    wait = DECODERS_BUSY_RETRY_AFTER  # DRF sends it as Retry-After


ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="Invalid input (the message says what to fix)"),
    401: OpenApiResponse(ErrorSerializer, description="Not authenticated"),
    404: OpenApiResponse(ErrorSerializer, description="No such prediction of yours"),
    429: OpenApiResponse(ErrorSerializer, description="Too many uploads, or too many photos still waiting"),
    503: OpenApiResponse(
        ErrorSerializer,
        description="The database or the queue is restarting, or this server is decoding its most photos; try again",
    ),
}


def _owned(request: Request, prediction_id: UUID) -> Prediction:
    return found_or_404(prediction_get(owner=request_user(request), prediction_id=prediction_id), NO_SUCH_PREDICTION)


class PredictionListCreateApi(generics.ListAPIView[Prediction]):
    serializer_class = PredictionSerializer
    parser_classes = [MultiPartParser, FormParser]
    throttle_scope = "uploads"

    def get_throttles(self) -> list[BaseThrottle]:
        return [ScopedRateThrottle()] if self.request.method == "POST" else []

    def get_queryset(self) -> Any:
        return prediction_list(owner=request_user(self.request))

    @extend_schema(summary="List your predictions, newest first", responses={200: PredictionSerializer(many=True)})
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        summary="Upload a photo to estimate ages",
        request=PredictionCreateSerializer,
        responses={202: PredictionSerializer, 400: ERRORS[400], 401: ERRORS[401], 429: ERRORS[429], 503: ERRORS[503]},
    )
    def post(self, request: Request) -> Response:
        serializer = PredictionCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            created = prediction_create(
                owner=request_user(request),
                image=serializer.validated_data["image"],
                source=serializer.validated_data["source"],
            )
        except DjangoValidationError as error:  # the photo was refused: say so under its field
            raise ValidationError({"image": error.messages}, code=error.code) from None
        except TooManyUnfinished as error:
            raise TooManyUnfinishedError(str(error)) from None
        except DecodersBusy as error:
            raise DecodersBusyError(str(error)) from None
        prediction = _owned(request, created.id)  # read back: an eager task may have run
        data = PredictionSerializer(prediction, context={"request": request}).data
        return Response(data, status=status.HTTP_202_ACCEPTED, headers={"Location": data["page_url"]})


class PredictionDetailApi(APIView):
    @extend_schema(summary="Read one prediction", responses={200: PredictionSerializer, 404: ERRORS[404]})
    def get(self, request: Request, prediction_id: UUID) -> Response:
        prediction = _owned(request, prediction_id)
        return Response(PredictionSerializer(prediction, context={"request": request}).data)

    @extend_schema(summary="Delete a prediction and its photo", responses={204: None, 404: ERRORS[404]})
    def delete(self, request: Request, prediction_id: UUID) -> Response:
        prediction_delete(prediction=_owned(request, prediction_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


def _jpeg_response(file: Any) -> FileResponse:
    # Streamed through this authenticated view, never a bucket URL: private by construction.
    gone = "The photo was deleted after the retention period; the results stay."
    return file_response(file, gone=gone)


class PredictionImageApi(APIView):
    @extend_schema(
        summary="The stored photo (re-encoded JPEG, upright, without metadata)",
        responses={(200, "image/jpeg"): OpenApiTypes.BINARY, 404: ERRORS[404]},
    )
    def get(self, request: Request, prediction_id: UUID) -> FileResponse:
        return _jpeg_response(_owned(request, prediction_id).image)


class PredictionThumbnailApi(APIView):
    @extend_schema(
        summary="A small copy of the stored photo (at most 320 px a side), for lists",
        responses={(200, "image/jpeg"): OpenApiTypes.BINARY, 404: ERRORS[404]},
    )
    def get(self, request: Request, prediction_id: UUID) -> FileResponse:
        prediction = _owned(request, prediction_id)
        if not prediction.image:  # deleted after the retention period, thumbnail and all
            return _jpeg_response(prediction.image)
        return _jpeg_response(prediction.thumbnail or prediction.image)  # photos stored before thumbnails
