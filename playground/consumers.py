from channels.generic.websocket import AsyncJsonWebsocketConsumer


class CompareConsumer(AsyncJsonWebsocketConsumer):
    pass
