from django.contrib.auth import views as auth
from django.urls import path

from . import views

urlpatterns = [
    path("", views.chat, name="chat"),
    path("accounts/login/", auth.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth.LogoutView.as_view(), name="logout"),
]
