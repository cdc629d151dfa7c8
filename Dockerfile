# One image for every Meterflow service (a uv workspace); docker-compose.yml picks the command.
FROM python:3.11-slim
COPY --from=ghcr.io/astral-sh/uv:0.13 /uv /usr/local/bin/uv
WORKDIR /app
ENV UV_LINK_MODE=copy UV_COMPILE_BYTECODE=1 PATH=/app/.venv/bin:$PATH PYTHONUNBUFFERED=1
COPY pyproject.toml uv.lock ./
COPY libs libs
COPY services services
COPY tools tools
# The schema migrations travel inside the meterflow-schema package (libs/schema).
RUN uv sync --frozen --no-dev
USER nobody
