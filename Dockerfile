# Telebill's own processes (API, worker, consumers) for docker-compose: the locked packages and
# the code; the command says which process (`telebill api serve`, `telebill worker`, …).
FROM python:3.11-slim
WORKDIR /app
COPY requirements.lock pyproject.toml ./
RUN pip install --no-cache-dir -r requirements.lock
COPY . .
RUN pip install --no-cache-dir --no-deps -e .
USER nobody
ENTRYPOINT ["telebill"]
