"""``/ws/predictions/<id>/``: a prediction's page hears of every change and reads it afresh."""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from accounts.websocket_auth import RevocableConsumer

from .selectors import prediction_get
from .serializers import PredictionSerializer
from .services import prediction_group

NOT_FOUND = 4404  # close code: no such prediction for this user (or not logged in)


@database_sync_to_async
def _prediction_data(user: Any, prediction_id: str) -> dict[str, Any] | None:
    prediction = prediction_get(owner=user, prediction_id=prediction_id)
    return None if prediction is None else dict(PredictionSerializer(prediction).data)


class PredictionConsumer(RevocableConsumer, AsyncJsonWebsocketConsumer):
    group: str | None = None

    async def connect(self) -> None:
        self.prediction_id = str(self.scope["url_route"]["kwargs"]["prediction_id"])
        if await _prediction_data(self.scope["user"], self.prediction_id) is None:
            await self.close(code=NOT_FOUND)
            return
        self.group = prediction_group(self.prediction_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.user_group_join(self.scope["user"].pk)
        await self.accept()
        await self.send_current()  # after joining the group, so no change can slip between

    async def disconnect(self, code: int) -> None:
        if self.group is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)
        await self.user_group_leave()

    async def prediction_changed(self, event: dict[str, Any]) -> None:
        await self.send_current()

    async def send_current(self) -> None:
        data = await _prediction_data(self.scope["user"], self.prediction_id)
        if data is None:  # deleted meanwhile
            await self.close(code=NOT_FOUND)
            return
        await self.send_json(data)
