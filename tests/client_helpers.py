"""Activities calling the demo service with each client library an extension
may use; tests/test_e2e_clients.py runs them in real chaos runs."""
import asyncio
from concurrent.futures import ThreadPoolExecutor

__all__ = ["urllib3_get", "httpx_get", "httpx_async", "requests_get",
           "session_get", "aiohttp_get", "dynamodb_list_tables",
           "otel_api_work", "traced_function_urllib3", "urllib3_in_threads",
           ]


def urllib3_get(url: str, count: int = 2) -> int:
    import urllib3

    http = urllib3.PoolManager()
    return sum(http.request("GET", f"{url}/orders?via=urllib3&n={i}").status
               for i in range(count))


def httpx_get(url: str) -> int:
    import httpx

    with httpx.Client() as client:
        return client.get(f"{url}/orders?via=httpx").status_code


def httpx_async(url: str, count: int = 4) -> list:
    import httpx

    async def main():
        async with httpx.AsyncClient() as client:
            answers = await asyncio.gather(*(
                client.get(f"{url}/orders?via=httpx-async&n={i}")
                for i in range(count)))
        return [a.status_code for a in answers]

    return asyncio.run(main())


def requests_get(url: str) -> int:
    import requests

    return requests.get(f"{url}/orders?via=requests", timeout=5).status_code


def session_get(url: str) -> int:
    from chaostracing_contrib.requests import session

    with session() as http:
        return http.get(f"{url}/orders?via=session", timeout=5).status_code


def aiohttp_get(url: str, count: int = 3) -> list:
    import aiohttp

    async def main():
        async with aiohttp.ClientSession() as client:
            async def one(i):
                async with client.get(f"{url}/orders?via=aiohttp&n={i}") as r:
                    return r.status
            return await asyncio.gather(*(one(i) for i in range(count)))

    return asyncio.run(main())


def dynamodb_list_tables(url: str) -> dict:
    import botocore.session

    client = botocore.session.get_session().create_client(
        "dynamodb", region_name="eu-west-1", endpoint_url=url,
        aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="not-a-secret")
    return client.list_tables()


def otel_api_work(url: str) -> int:
    """An extension using OpenTelemetry's API directly."""
    import urllib3
    from opentelemetry import trace

    tracer = trace.get_tracer(__name__)
    with tracer.start_as_current_span("extension-work") as span:
        span.set_attribute("work.kind", "orders")
        return urllib3.PoolManager().request(
            "GET", f"{url}/orders?via=otel-api").status


def traced_function_urllib3(url: str) -> int:
    from chaostracing import traced_activity

    @traced_activity(name="decorated-work")
    def work():
        import urllib3

        return urllib3.PoolManager().request(
            "GET", f"{url}/orders?via=decorated").status

    return work()


def urllib3_in_threads(url: str, count: int = 3) -> list:
    import urllib3

    from chaostracing import bind_context

    http = urllib3.PoolManager()

    def one(i):
        return http.request("GET", f"{url}/orders?via=threads&n={i}").status

    with ThreadPoolExecutor(3) as pool:
        return list(pool.map(bind_context(one), range(count)))


def urllib3_with_secrets(url: str, token: str) -> int:
    """A request whose URL holds the experiment's secret and credentials."""
    import urllib3

    host = url.split("://", 1)[1]
    return urllib3.PoolManager().request(
        "GET", f"http://admin:{token}@{host}/orders?token={token}"
               f"&refresh_token=r3fresh-value&page=1#access_token={token}").status


def httpx_with_secrets(url: str, token: str) -> int:
    import httpx

    with httpx.Client() as client:
        return client.get(f"{url}/orders",
                          params={"api_key": token}).status_code


# -- used by test_e2e_secret_urls: a secret in the URL, each client's way -----
def secret_in_url(url: str, client: str, token: str) -> int:
    """GET the demo service with ``token`` in the URL's path and query, the
    URL given to ``client`` as text and, where it takes them, the query as
    parameters (each library encodes them its own way)."""
    target = f"{url}/orders/{token}?q={token}"
    params = {"p": token}
    if client == "requests":
        import requests

        first = requests.get(target, timeout=5).status_code
        return first + requests.get(f"{url}/orders/x", params=params,
                                    timeout=5).status_code
    if client == "urllib3":
        import urllib3

        http = urllib3.PoolManager()
        return (http.request("GET", target).status
                + http.request("GET", f"{url}/orders/x", fields=params).status)
    if client == "httpx":
        import httpx

        with httpx.Client() as http:
            return (http.get(target).status_code
                    + http.get(f"{url}/orders/x", params=params).status_code)
    if client == "aiohttp":
        import aiohttp

        async def main():
            async with aiohttp.ClientSession() as http:
                async with http.get(target) as first:
                    async with http.get(f"{url}/orders/x",
                                        params=params) as second:
                        return first.status + second.status

        return asyncio.run(main())
    raise ValueError(client)
