from django.contrib.auth.models import AbstractUser


class User(AbstractUser):
    """The site's user; its own model from the start so fields can be added without pain."""
