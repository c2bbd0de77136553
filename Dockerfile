# graph_dpg service image: `graph-dpg run` (poller + HTTP endpoints /healthz, /readyz, NgDP push).
#
# Two stages: the build stage installs the package and its dependencies into /opt/venv (all dependencies ship
# manylinux wheels, so no compiler is needed); the runtime stage copies only that virtualenv onto a clean
# slim image and runs as an unprivileged user. /app (the working directory) is the only place that user can
# write: production state lives in PostgreSQL, but the sandbox demo's SQLite file and .env lookups use it.
#
#   docker build -t graph-dpg:0.1.0 .
#   docker run --rm -p 8080:8080 --env-file graph-dpg.env graph-dpg:0.1.0

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/venv
# Metadata first so the dependency layer is reused while only the code changes.
COPY pyproject.toml README.md ./
COPY graph_dpg ./graph_dpg
RUN /opt/venv/bin/pip install --no-cache-dir . \
 && /opt/venv/bin/graph-dpg --version

FROM python:3.11-slim AS runtime
LABEL org.opencontainers.image.title="graph_dpg" \
      org.opencontainers.image.description="Digital Post (NgDP / MeMo) gateway for Microsoft 365 function mailboxes" \
      org.opencontainers.image.licenses="MIT"
RUN groupadd --system --gid 10001 graphdpg \
 && useradd --system --uid 10001 --gid graphdpg --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin graphdpg \
 && install -d -o 10001 -g 10001 -m 0750 /app
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    GRAPH_DPG_HTTP_HOST=0.0.0.0 \
    GRAPH_DPG_HTTP_PORT=8080 \
    GRAPH_DPG_LOG_FORMAT=json
WORKDIR /app
# Numeric ids so orchestrators that enforce runAsNonRoot can verify the user without /etc/passwd.
USER 10001:10001
EXPOSE 8080
# Standard library only (no curl in the slim image); urlopen raises on any non-2xx answer -> exit 1.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('GRAPH_DPG_HTTP_PORT', '8080') + '/healthz', timeout=4)"]
ENTRYPOINT ["graph-dpg"]
CMD ["run"]
