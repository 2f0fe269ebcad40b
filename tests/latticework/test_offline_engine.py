"""The offline engine runs a project's `__main__.py` under mocks and records a Plan."""

from __future__ import annotations

import gc
import re
import shutil
import signal
import textwrap
import warnings
from pathlib import Path

import pytest

from components.errors import SpecError
from latticework.errors import ProgramError
from latticework.offline import UnansweredInvokeError, fewer_collections, plan_environment
from latticework.plan import SECRET_MASK, Plan

_REPO = Path(__file__).resolve().parents[2]
_SECRET_VALUE = "correct-horse-battery-staple"

# A small program with the shapes the real one has: resources at the stack root, a component
# with children, a secret input, an additional secret output, an invoke and stack exports.
_PROGRAM = textwrap.dedent(
    f"""
    import pathlib

    import pulumi
    import pulumi_aws as aws

    pathlib.Path("program-ran").write_text("yes")
    config = pulumi.Config("latticework")
    region = aws.get_region()
    vpc = aws.ec2.Vpc("network-vpc", cidr_block="10.20.0.0/16")
    subnet = aws.ec2.Subnet("network-private-0", vpc_id=vpc.id, cidr_block="10.20.0.0/20")


    class Service(pulumi.ComponentResource):
        def __init__(self, name):
            super().__init__("latticework:test:Service", name, None, None)
            child = pulumi.ResourceOptions(parent=self)
            self.secret = aws.secretsmanager.Secret(
                f"{{name}}-database", name=f"latticework/dev/{{name}}/database", opts=child
            )
            aws.secretsmanager.SecretVersion(
                f"{{name}}-database-initial",
                secret_id=self.secret.arn,
                secret_string=pulumi.Output.secret("{_SECRET_VALUE}"),
                opts=child,
            )
            self.lattice = aws.vpclattice.Service(
                f"{{name}}-lattice", name=name, auth_type="AWS_IAM", opts=child
            )
            self.role = aws.iam.Role(
                f"{{name}}-task-role",
                assume_role_policy="{{}}",
                opts=pulumi.ResourceOptions(parent=self, additional_secret_outputs=["arn"]),
            )
            self.store = aws.verifiedpermissions.PolicyStore(
                f"{{name}}-store", validation_settings={{"mode": "STRICT"}}, opts=child
            )
            self.register_outputs({{"secretArn": self.secret.arn}})


    orders = Service("orders")
    pulumi.export("region", region.region)
    pulumi.export("ordersUrl", orders.lattice.dns_entries[0].domain_name)
    pulumi.export("servicesFile", config.get("servicesFile"))
    pulumi.export("password", pulumi.Output.secret("{_SECRET_VALUE}"))
    """
)


def _project(tmp_path: Path, program: str = _PROGRAM) -> Path:
    project = tmp_path / "project"
    (project / "stacks").mkdir(parents=True)
    for stack_file in (_REPO / "stacks").glob("*.yaml"):
        shutil.copy(stack_file, project / "stacks" / stack_file.name)
    (project / "Pulumi.yaml").write_text("name: sample\nruntime: python\n")
    (project / "__main__.py").write_text(program)
    return project


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project with the repository's stacks and the small program above."""
    return _project(tmp_path_factory.mktemp("offline"))


@pytest.fixture(scope="module")
def dev_plan(project: Path) -> Plan:
    """The dev plan of the small program, computed once for this module."""
    return plan_environment("dev", project_dir=project)


def _urn(name: str, resource_type: str, parent_type: str | None = None) -> str:
    qualified = f"{parent_type}${resource_type}" if parent_type else resource_type
    return f"urn:pulumi:dev::sample::{qualified}::{name}"


def test_every_registration_is_recorded_in_urn_order(dev_plan: Plan) -> None:
    """Each resource and component the program registers is in the plan, sorted by URN."""
    urns = [resource.urn for resource in dev_plan.resources]

    assert urns == sorted(urns)
    assert len(urns) == 8
    assert _urn("network-vpc", "aws:ec2/vpc:Vpc") in urns
    assert _urn("orders", "latticework:test:Service") in urns


def test_children_of_the_stack_have_unqualified_urns_like_the_real_engine(
    dev_plan: Plan,
) -> None:
    """A resource at the stack root has no `pulumi:pulumi:Stack$` in its URN type."""
    vpc = dev_plan.of_type("aws:ec2/vpc:Vpc")[0]

    assert vpc.urn == _urn("network-vpc", "aws:ec2/vpc:Vpc")
    assert vpc.parent_urn == "urn:pulumi:dev::sample::pulumi:pulumi:Stack::sample-dev"


def test_component_children_name_their_parent(dev_plan: Plan) -> None:
    """Resources created with `parent=self` record the component's URN as their parent."""
    component_urn = _urn("orders", "latticework:test:Service")

    children = dev_plan.children(component_urn)

    assert dev_plan.resource(component_urn).is_component
    assert {child.name for child in children} == {
        "orders-database",
        "orders-database-initial",
        "orders-lattice",
        "orders-task-role",
        "orders-store",
    }


def test_dependencies_and_property_dependencies_are_recorded(dev_plan: Plan) -> None:
    """A subnet built from the VPC's id depends on the VPC, through its vpcId property."""
    vpc_urn = _urn("network-vpc", "aws:ec2/vpc:Vpc")

    subnet = dev_plan.resource(_urn("network-private-0", "aws:ec2/subnet:Subnet"))

    assert subnet.dependencies == (vpc_urn,)
    assert subnet.property_dependencies["vpcId"] == (vpc_urn,)
    assert subnet.property_dependencies["cidrBlock"] == ()


def test_secret_inputs_and_secret_outputs_are_masked(dev_plan: Plan) -> None:
    """A secret input and an output named in additionalSecretOutputs both read as the mask."""
    parent = "latticework:test:Service"
    version = dev_plan.resource(
        _urn("orders-database-initial", "aws:secretsmanager/secretVersion:SecretVersion", parent)
    )
    role = dev_plan.resource(_urn("orders-task-role", "aws:iam/role:Role", parent))

    assert version.inputs["secretString"] == SECRET_MASK
    assert version.outputs["secretString"] == SECRET_MASK
    assert role.outputs["arn"] == SECRET_MASK
    assert role.secret_outputs == ("arn",)
    assert dev_plan.stack_outputs["password"] == SECRET_MASK
    assert _SECRET_VALUE not in repr(dev_plan)


def test_outputs_are_synthesised_in_aws_formats(dev_plan: Plan) -> None:
    """Ids, ARNs and DNS names have the shapes AWS gives them, in the stack's region."""
    parent = "latticework:test:Service"
    vpc = dev_plan.resource(_urn("network-vpc", "aws:ec2/vpc:Vpc"))
    secret = dev_plan.resource(_urn("orders-database", "aws:secretsmanager/secret:Secret", parent))
    lattice = dev_plan.resource(_urn("orders-lattice", "aws:vpclattice/service:Service", parent))
    store = dev_plan.resource(
        _urn("orders-store", "aws:verifiedpermissions/policyStore:PolicyStore", parent)
    )

    assert re.fullmatch(r"vpc-[0-9a-f]{17}", str(vpc.id))
    assert vpc.outputs["arn"] == f"arn:aws:ec2:eu-west-1:111122223333:vpc/{vpc.id}"
    assert re.fullmatch(
        r"arn:aws:secretsmanager:eu-west-1:111122223333:secret:"
        r"latticework/dev/orders/database-[A-Za-z0-9]{6}",
        str(secret.outputs["arn"]),
    )
    assert re.fullmatch(r"svc-[0-9a-f]{17}", str(lattice.id))
    dns_name = dev_plan.stack_outputs["ordersUrl"]
    assert dns_name == lattice.outputs["dnsEntries"][0]["domainName"]  # type: ignore[index]
    assert re.fullmatch(
        rf"orders-{str(lattice.id)[4:]}\.[0-9a-f]{{7}}\.vpc-lattice-svcs\.eu-west-1\.on\.aws",
        str(dns_name),
    )
    assert re.fullmatch(r"[0-9A-Za-z]{22}", str(store.id))


def test_invokes_from_the_contract_are_answered(dev_plan: Plan) -> None:
    """`aws.get_region()` answers the stack's region."""
    assert dev_plan.stack_outputs["region"] == "eu-west-1"


def test_component_outputs_are_what_it_registered(dev_plan: Plan) -> None:
    """A component's outputs are the values it passed to register_outputs."""
    component = dev_plan.resource(_urn("orders", "latticework:test:Service"))

    assert str(component.outputs["secretArn"]).startswith("arn:aws:secretsmanager:eu-west-1:")


def test_the_plan_carries_the_stack_and_the_call_graph(dev_plan: Plan) -> None:
    """The plan names its environment, region, account and the catalog's services."""
    assert (dev_plan.environment, dev_plan.stack, dev_plan.project) == ("dev", "dev", "sample")
    assert (dev_plan.region, dev_plan.account_id) == ("eu-west-1", "111122223333")
    assert dev_plan.spec is not None
    assert [service.name for service in dev_plan.services] == sorted(
        service.name for service in dev_plan.spec.catalog.services
    )
    assert dev_plan.config["aws:region"] == "eu-west-1"


def test_planning_twice_gives_the_same_plan(project: Path, dev_plan: Plan) -> None:
    """The same program and stack give an identical plan: ids derive from URNs, not chance."""
    again = plan_environment("dev", project_dir=project)

    assert again == dev_plan


def test_another_stack_in_the_same_process_gets_its_own_names(
    project: Path, dev_plan: Plan
) -> None:
    """Planning prod after dev gives prod URNs and ids: no SDK state is left over."""
    prod = plan_environment("prod", project_dir=project)

    assert len(prod) == len(dev_plan)
    assert all(resource.urn.startswith("urn:pulumi:prod::sample::") for resource in prod)
    assert {resource.id for resource in prod}.isdisjoint(
        {resource.id for resource in dev_plan if resource.id}
    )


def test_a_services_file_is_passed_to_the_program(project: Path, tmp_path: Path) -> None:
    """--services reaches the program as the latticework:servicesFile config value."""
    services_file = tmp_path / "catalog.yaml"
    shutil.copy(_REPO / "stacks" / "services.yaml", services_file)

    plan = plan_environment("dev", project_dir=project, services_file=services_file)

    assert plan.stack_outputs["servicesFile"] == str(services_file.resolve())


def test_an_unanswered_invoke_is_an_error_naming_its_token(tmp_path: Path) -> None:
    """An invoke outside the contract list fails the plan instead of returning nothing."""
    project = _project(tmp_path, "import pulumi_aws as aws\naws.ec2.get_vpc(default=True)\n")

    with pytest.raises(UnansweredInvokeError) as caught:
        plan_environment("dev", project_dir=project)

    assert caught.value.token == "aws:ec2/getVpc:getVpc"
    assert "aws:ec2/getVpc:getVpc" in str(caught.value)


def test_a_bad_spec_stops_before_the_program_runs(tmp_path: Path) -> None:
    """A catalog error is a SpecError naming the file, and the program never starts."""
    project = _project(tmp_path)
    catalog = project / "stacks" / "services.yaml"
    catalog.write_text(catalog.read_text().replace("port: 8080", "port: 0", 1))

    with pytest.raises(SpecError) as caught:
        plan_environment("dev", project_dir=project)

    assert caught.value.file == str(catalog)
    assert not (project / "program-ran").exists()


def test_a_failing_program_is_a_program_error_with_its_message(tmp_path: Path) -> None:
    """An exception in the program becomes a ProgramError carrying the program's message."""
    project = _project(tmp_path, "raise ValueError('the catalog names no services')\n")

    with pytest.raises(ProgramError, match="the catalog names no services"):
        plan_environment("dev", project_dir=project)


def test_a_failed_run_leaves_the_next_run_working(tmp_path: Path, project: Path) -> None:
    """After a program fails, the engine plans the next program normally."""
    broken = _project(tmp_path, "raise RuntimeError('boom')\n")
    with pytest.raises(ProgramError):
        plan_environment("dev", project_dir=broken)

    plan = plan_environment("dev", project_dir=project)

    assert len(plan) == 8


def test_a_lookup_by_arn_finds_the_resource_not_one_whose_id_is_that_arn(
    tmp_path: Path,
) -> None:
    """An auth policy's id is its target's ARN; a lookup of that ARN still finds the target."""
    project = _project(
        tmp_path,
        textwrap.dedent(
            """
            import pulumi
            import pulumi_aws as aws

            network = aws.vpclattice.ServiceNetwork("network", name="dev", auth_type="AWS_IAM")
            policy = aws.vpclattice.AuthPolicy(
                "network-auth", resource_identifier=network.arn, policy="{}"
            )
            aws.vpclattice.AccessLogSubscription(
                "network-logs",
                resource_identifier=network.arn,
                destination_arn="arn:aws:logs:eu-west-1:111122223333:log-group:lattice",
                opts=pulumi.ResourceOptions(depends_on=[policy]),
            )
            """
        ),
    )

    plan = plan_environment("dev", project_dir=project)

    network = plan.of_type("aws:vpclattice/serviceNetwork:ServiceNetwork")[0]
    [logs] = plan.of_type("aws:vpclattice/accessLogSubscription:AccessLogSubscription")
    assert logs.outputs["resourceId"] == network.id
    assert logs.outputs["resourceArn"] == network.outputs["arn"]


def test_a_program_failing_mid_run_leaves_no_asyncio_noise(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Registrations in flight when the program fails end quietly: no asyncio error logs."""
    project = _project(
        tmp_path,
        textwrap.dedent(
            """
            import pulumi_aws as aws

            vpcs = [aws.ec2.Vpc(f"vpc-{index}", cidr_block="10.0.0.0/16") for index in range(20)]
            broken = vpcs[0].id.apply(lambda _: {}["missing"])
            subnets = [
                aws.ec2.Subnet(
                    f"subnet-{index}",
                    vpc_id=broken if index == 5 else vpc.id,
                    cidr_block="10.0.1.0/24",
                )
                for index, vpc in enumerate(vpcs)
            ]
            """
        ),
    )

    with pytest.raises(ProgramError, match="KeyError: 'missing'"):
        plan_environment("dev", project_dir=project)
    gc.collect()

    assert [record for record in caplog.records if record.name == "asyncio"] == []


def test_what_the_program_prints_goes_to_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A print() in the program cannot corrupt a report on stdout: it lands on stderr."""
    project = _project(tmp_path, "print('building the dev environment')\n")

    plan_environment("dev", project_dir=project)

    captured = capsys.readouterr()
    assert "building the dev environment" in captured.err
    assert "building the dev environment" not in captured.out


def test_an_encrypted_config_value_is_masked_and_stays_secret(tmp_path: Path) -> None:
    """A `secure:` stack value cannot be decrypted offline: the program gets a secret mask."""
    project = _project(
        tmp_path,
        textwrap.dedent(
            """
            import pulumi

            config = pulumi.Config("aws")
            pulumi.export("plain", config.get("secretKey"))
            pulumi.export("secret", config.get_secret("secretKey"))
            """
        ),
    )
    stack_file = project / "stacks" / "Pulumi.dev.yaml"
    stack_file.write_text(
        stack_file.read_text().replace(
            "config:\n", 'config:\n  aws:secretKey:\n    secure: "v1:c2VjcmV0Y2lwaGVy"\n', 1
        )
    )

    plan = plan_environment("dev", project_dir=project)

    assert plan.config["aws:secretKey"] == SECRET_MASK
    assert plan.stack_outputs["secret"] == SECRET_MASK
    assert "c2VjcmV0Y2lwaGVy" not in repr(plan)


def test_a_resource_read_with_get_is_recorded_as_read(tmp_path: Path) -> None:
    """`Vpc.get` registers an existing resource: recorded with its given id and read=True."""
    project = _project(
        tmp_path,
        textwrap.dedent(
            """
            import pulumi_aws as aws

            aws.ec2.Vpc.get("existing-vpc", "vpc-0a1b2c3d4e5f60718")
            """
        ),
    )

    plan = plan_environment("dev", project_dir=project)

    [existing] = plan.resources
    assert (existing.name, existing.id, existing.read) == (
        "existing-vpc",
        "vpc-0a1b2c3d4e5f60718",
        True,
    )
    assert existing.outputs["arn"] == "arn:aws:ec2:eu-west-1:111122223333:vpc/vpc-0a1b2c3d4e5f60718"


def test_a_plan_leaves_no_event_loop_open(project: Path) -> None:
    """The event loops the SDK's mock monitor makes in its worker threads are closed too."""
    # Whatever earlier tests left for the collector is collected first, outside the record.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        plan_environment("dev", project_dir=project)
        gc.collect()

    unclosed = [str(w.message) for w in caught if "unclosed event loop" in str(w.message)]
    assert unclosed == []


def test_an_encrypted_value_inside_a_structured_config_value_is_masked(tmp_path: Path) -> None:
    """A `secure:` leaf of a structured value is masked as a top-level one is, and secret."""
    project = _project(
        tmp_path,
        textwrap.dedent(
            """
            import pulumi
            from pulumi.runtime.config import is_config_secret

            config = pulumi.Config("aws")
            pulumi.export("assumeRole", config.get_object("assumeRole"))
            pulumi.export("secret", is_config_secret("aws:assumeRole"))
            """
        ),
    )
    stack_file = project / "stacks" / "Pulumi.dev.yaml"
    stack_file.write_text(
        stack_file.read_text().replace(
            "config:\n",
            "config:\n  aws:assumeRole:\n    roleArn: arn:aws:iam::111122223333:role/deployer\n"
            '    externalId:\n      secure: "v1:ZXh0ZXJuYWxpZA=="\n',
            1,
        )
    )

    plan = plan_environment("dev", project_dir=project)

    masked = {"roleArn": "arn:aws:iam::111122223333:role/deployer", "externalId": SECRET_MASK}
    assert plan.config["aws:assumeRole"] == masked
    assert plan.stack_outputs == {"assumeRole": masked, "secret": True}
    assert "ZXh0ZXJuYWxpZA" not in repr(plan)


class _PressesCtrlCWhenCollected:
    """Cyclic garbage whose finalizer sends SIGINT, as Ctrl-C arriving mid-collection does."""

    def __init__(self) -> None:
        self.cycle = self

    def __del__(self) -> None:
        signal.raise_signal(signal.SIGINT)


def test_ctrl_c_during_the_closing_collection_is_not_lost() -> None:
    """Ctrl-C while `fewer_collections` collects on the way out raises `KeyboardInterrupt`
    after the collection, instead of being printed as ignored inside a finalizer."""
    with pytest.raises(KeyboardInterrupt), fewer_collections():
        _PressesCtrlCWhenCollected()

    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
