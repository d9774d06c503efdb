# The operator image: the package installed from this repository, run as a non-root user.
# syntax=docker/dockerfile:1
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator ./operator
COPY api ./api
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11-slim
COPY --from=build /install /usr/local
RUN useradd --system --uid 65532 --no-create-home --shell /usr/sbin/nologin operator
USER 65532:65532
EXPOSE 8081 9090
ENTRYPOINT ["innodb-operator"]
CMD ["run"]
