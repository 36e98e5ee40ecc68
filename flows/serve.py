"""Serve the flows as Prefect deployments: the pipeline on a cron schedule, the others on demand.

``serve`` runs in the foreground: it registers the deployments with the Prefect API
(``PREFECT_API_URL``, e.g. a ``prefect server start``), polls for their scheduled or requested runs
and executes each in a subprocess. Teams with work pools use ``prefect.yaml`` instead.
"""

from __future__ import annotations

from prefect import serve
from prefect.deployments.runner import EntrypointType, RunnerDeployment
from prefect.schedules import Cron

from flows.forecast_flow import forecast_flow
from flows.ingest import ingest_flow
from flows.pipeline import pipeline_flow
from forecast.config.settings import PipelineSettings, flow_parameters

TAGS = ["demand-forecast"]
# Entrypoints by module (``flows.pipeline``), not by file: a run imports the installed packages as the
# command line does, whatever folder it starts in.
BY_MODULE = EntrypointType.MODULE_PATH


def deployments(settings: PipelineSettings) -> list[RunnerDeployment]:
    """``pipeline/<name>`` on the schedule; ``forecast/<name>`` and ``ingest/<name>`` run on request."""
    params = settings.pipeline_parameters()
    inbox = params["inbox"]
    return [
        pipeline_flow.to_deployment(
            name=settings.name,
            schedules=[Cron(settings.cron, timezone=settings.timezone)],
            parameters=params,
            description=f"Ingest new files from {inbox}, forecast, report; cron '{settings.cron}' "
            f"({settings.timezone}).",
            tags=TAGS,
            entrypoint_type=BY_MODULE,
        ),
        forecast_flow.to_deployment(
            name=settings.name,
            parameters={"db": settings.db, **flow_parameters(settings.forecast), "progressbar": False},
            description="Forecast every product in the database now.",
            tags=TAGS,
            entrypoint_type=BY_MODULE,
        ),
        ingest_flow.to_deployment(
            name=settings.name,
            parameters={
                "sales": f"{inbox}/{settings.sales}",
                "products": f"{inbox}/{settings.products}",
                "db": settings.db,
                "column_map": dict(settings.column_map),
                "encoding": settings.encoding,
            },
            description=f"Load new files from {inbox} now.",
            tags=TAGS,
            entrypoint_type=BY_MODULE,
        ),
    ]


def serve_flows(settings: PipelineSettings, limit: int | None = None) -> None:
    """Register the deployments and run their flow runs until interrupted."""
    serve(*deployments(settings), limit=limit)
