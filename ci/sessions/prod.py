"""`nox -s prod`: bake with the shared registry cache and reproducible build args; `-- --push` to publish."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from datetime import UTC, datetime

from ci import docker as dk
from ci.builds import bake
from ci.builds.buildargs import prod_args, prod_build_args
from ci.builds.finished import Build, record_pushed, write_build
from ci.cache import in_build, refs, registry
from ci.core.errors import CiError, Exit, UsageError
from ci.core.report import Check
from ci.core.session import Run, Session
from ci.core.settings import Signing, signing
from ci.phases.build import BuildRequest, build_group
from ci.sign import cosign
from ci.sources.git import read_commit, unborn
from ci.stack import preflight

PROFILE = "prod"  # the bake group prod builds, and the name of its files in reports/


def body(run: Run) -> None:
    settings, args = run.settings, run.args
    signing = signing_of(args)
    if unborn(settings.root):  # its images would be "unknown", of no commit a pipeline can find again
        line = f"{settings.root} has no commit yet: commit first (`git add -A && git commit`), prod builds one"
        run.report.add(Check("commit", "failed", message=line, exit_code=Exit.USAGE))
        raise UsageError(line)
    with run.step("engine") as check:
        engine = dk.connect(settings)
        check.message = f"engine {dk.require_engine(engine)}"
    with run.step("preflight") as check:  # before the cache step, which may start the cache registry
        check.message = preflight.before_build(engine, settings, PROFILE).summary()
    with run.step("builder") as check:
        builder = registry.selected_builder(engine, args.builder)
        check.message = f"{builder.name} ({builder.driver} driver)"
    with run.step("cache") as cache_check:
        plan = registry.plan_cache(settings, builder, strict=args.strict_cache)
        # The problems were said once, as warnings; the JUnit file keeps them with the step.
        cache_check.message = "; ".join([f"registry cache {plan.status} at {plan.registry}", *plan.notes])
        cache_check.output = "\n".join(plan.problems)
    with run.step("bake") as check:
        branches = refs.Branches.of(settings.cache, settings.root)
        variables = prod_variables(run, plan, branches)
        image_registry = settings.image_registry or plan.registry
        no_sbom = ""
        if args.push and args.no_attest:  # said first in the last line, as a missing SBOM is: asked, not silent
            variables |= {"IMAGE_REGISTRY": image_registry, "ATTEST": "false"}
            no_sbom = "no attestations: --no-attest"
        elif args.push:
            attested = attestations(engine, settings.sbom_generator, image_registry)
            variables |= attested.variables
            no_sbom = attested.missing
        tag = variables["TAG"]
        print(f"baking prod: tree {tag}, builder {builder.name}")
        layout = in_build.layout(plan, settings.project, branches, no_cache=args.no_cache)
        caches: dict[str, refs.TargetCache] = {}
        per_target = in_build.per_target(settings.root, plan, layout, caches, strict=args.strict_cache)
        store, build = bake_prod(run, engine, builder, variables, per_target)
        in_build.cache_problems(build.trace, plan, strict=args.strict_cache)
        failed = bool(build.trace.cache_errors())
        if not failed:
            in_build.tag_branches(plan, caches, strict=args.strict_cache)
        record_cache(run, build, plan, caches, failed=failed)
        check.output = "\n".join(plan.problems)
        check.message = f"{len(build.targets)} images of tree {tag} in {build.seconds:.1f}s; cache {plan.status}"
    loud_cache(cache_check, plan)
    degraded = plan.verdict()
    run.verdict = f"tree {tag}: loaded {identities(build)}, also :{tag} and :latest; next: nox -s verify -- --up"
    if degraded:  # first: a line cut to the terminal keeps it
        run.verdict = f"{degraded}; {run.verdict}"
    if not args.push:
        run.report.skip(["push"], "no --push")
        return
    with run.step("push") as check:
        pushed = [ref for t in build.targets for ref in t.tags if ref.startswith(f"{image_registry}/")]
        for ref in pushed:
            print(f"pushing {ref}", flush=True)
            dk.push_image(store, ref)
        digests = pushed_digests(build, image_registry)
        record_pushed(run.settings, build, digests)
        run.data["pushed"] = digests
        run.data["sbom_generator"] = "" if no_sbom else variables["SBOM_GENERATOR"]  # what made the SBOMs; "": none
        check.message = f"pushed {len(pushed)} tags to {image_registry}"
        run.verdict = f"pushed {len(pushed)} tags to {image_registry}: {digests_line(digests)}; next: nox -s verify"
        if signing is not None:
            sign_pushed(digests, signing)
            check.message += f", signed {len(digests)} digests"
            run.verdict = f"pushed and signed {len(pushed)} tags to {image_registry}: {digests_line(digests)}; " + (
                "next: nox -s verify -- --signed"
            )
        if no_sbom:  # first, as a degraded cache is: a line cut to the terminal keeps it
            check.message += f"; {no_sbom}"
            run.verdict = f"{no_sbom}; {run.verdict}"


def sign_pushed(digests: dict[str, str], signing: Signing) -> None:
    """Each pushed digest signed (the index: its platform manifests, labels and attestations); the first that
    fails ends prod in one line naming the image."""
    for target, ref in digests.items():
        print(f"signing {ref}", flush=True)
        try:
            cosign.sign(ref, signing, dk.engine_cas(ref))
        except CiError as err:
            raise CiError(f"{target}: {err}") from None


def check_args(args: argparse.Namespace) -> None:
    """--sign signs what --push pushed: alone, it has nothing to sign."""
    if args.sign and not args.push:
        raise UsageError("--sign signs the pushed images: give it with --push")
    if args.no_attest and not args.push:
        raise UsageError("--no-attest leaves the attestations off a push: give it with --push")


def signing_of(args: argparse.Namespace) -> Signing | None:
    """With --sign, the key as the environment gives it, checked before anything is built: cosign installed,
    COSIGN_KEY set; None without --sign."""
    if not args.sign:
        return None
    if cosign.available() is None:
        raise UsageError("--sign: cosign is not installed: run `ci/provision` as root (Debian's cosign, 2.x)")
    found = signing()
    if not found.key:
        raise UsageError("--sign: COSIGN_KEY is not set: a private key's path, or env://NAME (and COSIGN_PASSWORD)")
    return found


def pushed_digests(build: Build, image_registry: str) -> dict[str, str]:
    """Each pushed target's reference by digest, `REGISTRY/NAME@sha256:...`: the repository of its first tag in
    IMAGE_REGISTRY and the digest bake wrote (its metadata's containerimage.digest: the index pushed)."""
    found = {}
    for t in build.targets:
        tag = next((ref for ref in t.tags if ref.startswith(f"{image_registry}/")), "")
        if tag and t.digest:
            found[t.target] = f"{tag.rsplit(':', 1)[0]}@{t.digest}"
    return found


def digests_line(digests: dict[str, str]) -> str:
    """`backend sha256:..., frontend sha256:...`: each pushed digest whole, for a deploy step to take."""
    return ", ".join(f"{target} {ref.rsplit('@', 1)[1]}" for target, ref in digests.items())


def identities(build: Build) -> str:
    """Each image by its own identity, as docker names it: `mainza-backend:1a2b3c4`."""
    return ", ".join(
        t.image.rsplit(":", 1)[0].removeprefix("docker.io/library/") + f":{t.git_commit}" for t in build.targets
    )


def bake_prod(
    run: Run,
    engine: dk.Engine,
    builder: registry.BuilderInfo,
    variables: dict[str, str],
    per_target: bake.PerTarget | None = None,
) -> tuple[dk.Engine, Build]:
    """Bake on BUILDER; returns the engine the images landed in, and the build."""
    # A docker-driver builder is its engine: buildx reaches it through its context, not --builder.
    docker_driver = builder.driver == "docker"
    store = dk.connect(context=builder.nodes[0]) if docker_driver and builder.nodes else engine
    build = build_group(
        BuildRequest(
            settings=run.settings,
            profile=PROFILE,
            variables=variables,
            build_args=prod_args(datetime.now(UTC)),
            tag_identity=True,
            engine=store if docker_driver else engine,
            store=store,
            no_cache=run.args.no_cache,
            show_logs=run.args.logs,
            builder=None if docker_driver else builder.name,
            per_target=per_target,
            # `latest` names the latest build recorded: it moves once the record says which that is.
            after_record=variables["EXTRA_TAG"],
        )
    )
    return store, build


def prod_variables(run: Run, plan: registry.CachePlan, branches: refs.Branches) -> dict[str, str]:
    build_args = prod_build_args(read_commit(run.settings.root), datetime.now(UTC))
    strict = run.args.strict_cache
    return {
        "CACHE_BRANCH": branches.branch,
        "CACHE_DEFAULT_BRANCH": branches.default,
        "CACHE_FROM_BRANCHES": "false",  # each target's refs come in the override (ci/cache/refs.py)
        "PROJECT": run.settings.project,
        "TAG": build_args["GIT_COMMIT"],
        "EXTRA_TAG": "latest",
        **build_args,
        "CACHE_REGISTRY": plan.registry,
        "REGISTRY_CACHE": str(plan.import_cache).lower(),
        "CACHE_EXPORT": str(plan.export_cache).lower(),
        "CACHE_IGNORE_ERROR": str(not strict).lower(),
    }


@dataclass(frozen=True)
class Attestations:
    """What a push attaches, as bake variables; MISSING: "" when it attaches an SBOM, else the line saying why not
    (the push's last line starts with it)."""

    variables: dict[str, str]
    missing: str


def attestations(engine: dk.Engine, generator: str, image_registry: str) -> Attestations:
    """Provenance always; an SBOM made by GENERATOR (SBOM_GENERATOR: the host's own, which ci/provision builds, else
    BuildKit's from Docker Hub) where the registry that holds it answers for it, as BuildKit will ask it."""
    why = dk.image_resolvable(engine, generator)
    missing = ""
    if why is not None:
        cause = dk.refusal(generator, why).why.split(":", 1)[0]
        missing = f"no SBOM: its generator {generator} cannot be had ({cause}); ci/provision builds the host's own"
    variables = {"IMAGE_REGISTRY": image_registry, "ATTEST": "true", "SBOM": str(why is None).lower()}
    return Attestations({**variables, "SBOM_GENERATOR": generator}, missing)


def loud_cache(check: Check, plan: registry.CachePlan) -> None:
    """A registry cache that does not work fails the cache step in the JUnit file, with every reason; the
    session passes all the same (--strict-cache has ended it already)."""
    if plan.problems:
        check.status, check.blocking = "failed", False
        check.message = f"registry cache {plan.status} at {plan.registry}: {plan.problems[0]}"
        check.output = "\n".join(plan.problems)


def record_cache(
    run: Run, build: Build, plan: registry.CachePlan, caches: dict[str, refs.TargetCache], *, failed: bool
) -> None:
    """What became of the registry cache, per target too (which refs it read, which it wrote or why
    none; FAILED: the registry failed during the build): in the build's figures, the JUnit properties,
    on screen."""
    build.cache = {"registry": plan.registry, "status": plan.status, "problems": plan.problems, "notes": plan.notes}
    run.report.main.properties.update({"cache_status": plan.status, "cache_registry": plan.registry})
    if plan.problems:
        run.report.main.properties["cache_problems"] = " | ".join(plan.problems)
    for target in build.targets:
        found = caches.get(target.target)
        target.cache = found.figures(failed) if found else {"not_exported": f"registry cache {plan.status}"}
    write_build(run.report, run.settings, build)
    for target in build.targets:
        found = caches.get(target.target)
        if found:
            print(found.line(target.cached_steps, target.steps, failed))
        else:
            print(f"{target.target} cache: none read, none written (registry cache {plan.status})")
    print(f"registry cache: {plan.status} ({plan.registry})")


SESSION = Session(
    name="prod",
    summary="Bake the prod group with the registry cache (mode=max) and reproducible build args.",
    steps=("engine", "preflight", "builder", "cache", "bake", "push"),
    body=body,
    check_args=check_args,
    locks=lambda args: True,  # it loads the images and moves their tags
)
