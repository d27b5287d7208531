# Telebill's own processes (API, worker, consumers) for docker-compose: the locked packages and
# the code; the command says which process (`telebill api serve`, `telebill worker`, …).
# Pin the base by digest where the image is built (no registry is reachable from where this
# file was written to read one): `docker buildx imagetools inspect python:3.11-slim` prints it,
# then build with --build-arg PYTHON_IMAGE=python:3.11-slim@sha256:<digest>.
ARG PYTHON_IMAGE=python:3.11-slim
FROM ${PYTHON_IMAGE}
WORKDIR /app
COPY requirements.lock pyproject.toml ./
# every package checked against the SHA-256 in the lock
RUN pip install --no-cache-dir --require-hashes -r requirements.lock
COPY . .
RUN pip install --no-cache-dir --no-deps -e .
# the retention's archives (a volume in docker-compose.yml takes this folder's owner)
RUN mkdir -p /var/lib/telebill/archive && chown -R nobody /var/lib/telebill
USER nobody
ENTRYPOINT ["telebill"]
