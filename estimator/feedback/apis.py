"""REST API of feedback (a person's answers) and review (staff): HTTP to services, nothing more."""

from __future__ import annotations

import math
from typing import Any
from uuid import UUID

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import IsAdminUser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ageweb.api_errors import ErrorSerializer
from ageweb.http import found_or_404, request_user

from ..files import file_response
from ..models import Feedback
from ..predictions.apis import ERRORS
from ..predictions.selectors import NO_SUCH_PREDICTION, prediction_get
from .answers import feedback_delete, feedback_set, prediction_face
from .review import feedback_review
from .selectors import feedback_get, review_get, review_queue
from .serializers import FeedbackInputSerializer, FeedbackSerializer, ReviewInputSerializer, ReviewItemSerializer

STAFF_ONLY = OpenApiResponse(ErrorSerializer, description="Not a staff account")


def _django_errors(error: DjangoValidationError) -> ValidationError:
    return ValidationError({"non_field_errors": error.messages}, code=error.code)


class FeedbackApi(APIView):
    """One answer per face: ``POST`` stores (or replaces) it, ``GET`` reads it, ``DELETE`` removes it."""

    def _feedback_or_404(self, request: Request, prediction_id: UUID, index: int) -> Feedback:
        found_or_404(prediction_get(owner=request_user(request), prediction_id=prediction_id), NO_SUCH_PREDICTION)
        feedback = feedback_get(owner=request_user(request), prediction_id=prediction_id, index=index)
        return found_or_404(feedback, "There is no answer about this face.")

    @extend_schema(summary="Read your answer about one face", responses={200: FeedbackSerializer, 404: ERRORS[404]})
    def get(self, request: Request, prediction_id: UUID, index: int) -> Response:
        return Response(FeedbackSerializer(self._feedback_or_404(request, prediction_id, index)).data)

    @extend_schema(
        summary="Say whether the estimate for one face was right (posting again replaces the answer)",
        request=FeedbackInputSerializer,
        responses={201: FeedbackSerializer, 400: ERRORS[400], 404: ERRORS[404]},
    )
    def post(self, request: Request, prediction_id: UUID, index: int) -> Response:
        prediction = found_or_404(
            prediction_get(owner=request_user(request), prediction_id=prediction_id), NO_SUCH_PREDICTION
        )
        serializer = FeedbackInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            face = prediction_face(prediction=prediction, index=index)
            feedback = feedback_set(face=face, **serializer.validated_data)
        except DjangoValidationError as error:
            raise _django_errors(error) from None
        return Response(FeedbackSerializer(feedback).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Remove your answer about one face (and its kept crop)", responses={204: None, 404: ERRORS[404]}
    )
    def delete(self, request: Request, prediction_id: UUID, index: int) -> Response:
        feedback_delete(feedback=self._feedback_or_404(request, prediction_id, index))
        return Response(status=status.HTTP_204_NO_CONTENT)


def _float_param(request: Request, name: str) -> float | None:
    raw = request.query_params.get(name, "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise ValidationError({name: [f"{name} must be a number of years."]}, code="invalid")
    return value


class ReviewListApi(generics.ListAPIView[Feedback]):
    permission_classes = [IsAdminUser]
    serializer_class = ReviewItemSerializer

    def get_queryset(self) -> Any:
        state = self.request.query_params.get("state") or None
        if state is not None and state not in Feedback.State.values:
            raise ValidationError({"state": ["The state must be pending, accepted or rejected."]}, code="invalid")
        return review_queue(
            state=state,
            model_version=self.request.query_params.get("model_version") or None,
            min_disagreement=_float_param(self.request, "min_disagreement"),
        )

    @extend_schema(
        summary="Faces kept with consent, for review (staff only), oldest first",
        parameters=[
            OpenApiParameter("state", str, enum=list(Feedback.State.values)),
            OpenApiParameter("model_version", str),
            OpenApiParameter("min_disagreement", float, description="Years between the estimate and the age, at least"),
        ],
        responses={200: ReviewItemSerializer(many=True), 403: STAFF_ONLY},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


def _review_or_404(feedback_id: int) -> Feedback:
    return found_or_404(review_get(feedback_id=feedback_id), "No such face to review (it may have been withdrawn).")


class ReviewDetailApi(APIView):
    permission_classes = [IsAdminUser]

    @extend_schema(summary="Read one review item", responses={200: ReviewItemSerializer, 403: STAFF_ONLY})
    def get(self, request: Request, feedback_id: int) -> Response:
        return Response(ReviewItemSerializer(_review_or_404(feedback_id), context={"request": request}).data)

    @extend_schema(
        summary="Accept or reject a kept face, optionally with a corrected age (staff only)",
        request=ReviewInputSerializer,
        responses={200: ReviewItemSerializer, 400: ERRORS[400], 403: STAFF_ONLY, 404: ERRORS[404]},
    )
    def patch(self, request: Request, feedback_id: int) -> Response:
        serializer = ReviewInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            feedback_review(
                feedback=_review_or_404(feedback_id), reviewer=request_user(request), **serializer.validated_data
            )
        except DjangoValidationError as error:
            raise _django_errors(error) from None
        return Response(ReviewItemSerializer(_review_or_404(feedback_id), context={"request": request}).data)


class ReviewCropApi(APIView):
    permission_classes = [IsAdminUser]

    @extend_schema(
        summary="The kept face crop (JPEG, staff only)",
        responses={(200, "image/jpeg"): OpenApiTypes.BINARY, 403: STAFF_ONLY, 404: ERRORS[404]},
    )
    def get(self, request: Request, feedback_id: int) -> FileResponse:
        return file_response(_review_or_404(feedback_id).crop, gone="This face is not kept.")
