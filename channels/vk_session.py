"""The requests session that points the real vk-api client at a configurable VK API base URL.

vk-api's ``VkApi.method`` posts to a hard-coded host (``https://api.vk.ru/method/…`` in vk-api 11.10, the older
``https://api.vk.com/method/…`` before it), so the base URL setting cannot be passed to it: the session it is
given rewrites that prefix instead. With the production default nothing changes but the host's spelling.
"""

from __future__ import annotations

from typing import Any, Final

import requests

DEFAULT_API_BASE: Final = "https://api.vk.com"
# Every spelling of VK's API host that a vk-api version may use.
VK_API_HOSTS: Final = ("https://api.vk.com", "https://api.vk.ru")


class VkApiSession(requests.Session):
    """Sends what vk-api addresses to VK's API host to ``api_base`` instead; other URLs are left alone."""

    def __init__(self, api_base: str = DEFAULT_API_BASE) -> None:
        super().__init__()
        self.api_base = api_base.rstrip("/")

    def rewrite(self, url: str) -> str:
        for host in VK_API_HOSTS:
            if url == host or url.startswith(host + "/"):
                return self.api_base + url[len(host) :]
        return url

    def request(self, method: str, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        text = url.decode() if isinstance(url, bytes) else url
        return super().request(method, self.rewrite(text), *args, **kwargs)


def vk_session(api_base: str = DEFAULT_API_BASE) -> requests.Session:
    """A session for ``vk_api.VkApi(token=…, session=vk_session(base))``: its API calls go to ``api_base``."""
    return VkApiSession(api_base)
