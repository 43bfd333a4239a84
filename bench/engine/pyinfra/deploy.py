# The demo service's task list (bench/engine/catalog/services/demo.yaml) as a pyinfra deploy,
# for bench/engine-vs-ansible: 20 templated files (one secret), 5 guarded commands, memcached
# with a templated config restarted when it changes; then, on the first host of each site, a
# wait for memcached and a read of a file. The same list is in ../ansible/playbook.yml.
from io import StringIO

from pyinfra import host, inventory
from pyinfra.facts.files import File
from pyinfra.operations import files, server, systemd

me = host.data
peers = " ".join(h.data.ip for h in inventory if h.data.site == me.site) + " "

files.directory(name="demo directory", path="/etc/demo", mode="755")
for i in range(1, 20):
    files.template(
        name=f"demo file {i:02}",
        src="file.conf.j2",
        dest=f"/etc/demo/file-{i:02}.conf",
        mode="644",
        cloud=me.cloud,
        peers=peers,
    )
files.put(
    name="secret",
    src=StringIO(f"token = {me.demo_token}\n"),
    dest="/etc/demo/secret.conf",
    mode="600",
)
# pyinfra has no `creates:`; its idiom is a fact that decides whether the operation exists.
for i in range(1, 6):
    if not host.get_fact(File, path=f"/var/lib/demo/cmd-{i}"):
        first = "mkdir -p /var/lib/demo && " if i == 1 else ""
        server.shell(
            name=f"guarded command {i}",
            commands=[f"{first}echo 1 >> /var/lib/demo/ran-{i} && echo done > /var/lib/demo/cmd-{i}"],
        )
config = files.template(name="memcached config", src="memcached.conf.j2", dest="/etc/memcached.conf", mode="644")
systemd.service(name="memcached", service="memcached", running=True, enabled=True)
systemd.service(name="restart memcached", service="memcached", restarted=True, _if=config.did_change)

if me.leader:
    # server.wait needs netstat, which the hosts lack: the same TCP probe as strata's wait.
    server.shell(
        name="memcached answers",
        commands=[f"for i in $(seq 30); do timeout 1 bash -c 'exec 3<>/dev/tcp/{me.ip}/11211' && exit 0; sleep 1; done; exit 1"],
    )
    server.shell(name="fetch", commands=["cat /var/lib/demo/cmd-1"])
