# Siap112 service image: the same package runs as web (`serve`) or worker
# (`dispatcher`, `relay`) depending on the command.
FROM python:3.11-slim
WORKDIR /app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
COPY pyproject.toml README.md ./
COPY dispatch ./dispatch
COPY config ./config
COPY sql ./sql
# Editable install: config/ and sql/ are read from /app beside the package.
RUN pip install --no-cache-dir -e . && useradd --system siap112
USER siap112
EXPOSE 8112
CMD ["siap112", "serve"]
