# Backend image: FastAPI on uvicorn. Built by bake (target "backend"); the context is the repository.
ARG PYTHON_IMAGE=docker.io/library/python:3.11-slim

FROM ${PYTHON_IMAGE} AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

# Dependencies in their own stage and layer: they rebuild only when requirements-docker.txt changes.
# (deps and check are build stages, never run as containers: no HEALTHCHECK there, hence the ignores.)
# hadolint ignore=DL3057
FROM base AS deps
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY requirements-docker.txt /tmp/requirements-docker.txt
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install -r /tmp/requirements-docker.txt

# Not part of the image: `bake validate` builds it to check that the sources compile.
# hadolint ignore=DL3057
FROM deps AS check
COPY backend/ /tmp/check/backend/
RUN python -m compileall -q /tmp/check/backend

FROM base AS runtime
ARG UID=10001
RUN useradd --uid "${UID}" --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin --user-group app
COPY --from=deps /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /app
# Sources are owned by root: the service can read but not rewrite its own code.
COPY backend/ ./backend/
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=2)"]
CMD ["uvicorn", "backend.main:app", "--host", "0.0.0.0", "--port", "8000"]

# Build info last: a new CACHE_BUST invalidates only this small layer and the labels.
ARG BUILD_DATE=unknown
ARG GIT_COMMIT=unknown
ARG CACHE_BUST=unknown
ARG SOURCE_DIGEST=unknown
ARG SOURCE_URL=""
# The sources are compiled in the same step: a syntax error fails the build here (a running stack is never
# replaced by a broken one), at the cost of one process, not a step of its own (watch's turns count them).
RUN python -m compileall -q backend && \
    python -c 'import json, os; json.dump({k.lower(): os.environ[k] for k in ("BUILD_DATE", "GIT_COMMIT", "CACHE_BUST", "SOURCE_DIGEST")}, open("backend/build-info.json", "w"))'
LABEL org.opencontainers.image.title="mainza-backend" \
      org.opencontainers.image.created="${BUILD_DATE}" \
      org.opencontainers.image.revision="${GIT_COMMIT}" \
      org.opencontainers.image.source="${SOURCE_URL}"
USER ${UID}
