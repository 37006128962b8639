"""Docker environments: steps run in a container, through the Docker SDK.

Identity (what the step key holds, with the variables, network and mounts):
  image: NAME   the image ID that NAME names on this machine: re-tagging NAME to new
                content changes it, and a tag is never trusted. Looked up without
                pulling; `pipe run` pulls a missing image first, `pipe status` never does.
  build: DIR    what the build can see: the content of its build context (context.py:
                .dockerignore honoured; without one, the folder's digest, as for inputs),
                the Dockerfile's name and the IDs of its FROM images. The image is built
                when a step needs it, tagged pipefile-env/NAME:DIGEST and labelled with
                that digest, and reused while the digest matches. `pipe run` pulls
                missing FROM images before planning, as it pulls a missing `image:`.

The container runs as the calling uid:gid (outputs belong to the user), with the
workspace bind-mounted at its own path read-only, the step's staging folder and
folder outputs read-write, the folders of its file outputs as writable views (literal
output paths, executors/literal.py), the environment's variables, `network: none` if asked,
extra mounts, GPUs as device requests for exactly the leased ids, and the step's
memory as a limit. Its output is streamed into the step's log. Containers carry
the labels org.pipefile.run / org.pipefile.step; they are removed when the step ends,
and a later run removes those of a pipe that was killed, and those its daemon's going away
left (noted in .pipe/containers/, containers.py).

Modules: `context` (the build context: what the daemon is sent, and its digest),
`environment` (DockerEnvironment: its identity, fetching what it needs before
planning, preparing its image when a step runs), `images` (an image's ID here, building
one, the images pipe built), `containers` (a step's container, driven like a process, and
removing those a killed pipe left), `daemon` (the SDK and the client: the only module that
imports the `docker` package).
"""

from .containers import remove_containers
from .daemon import client
from .environment import DockerEnvironment
from .images import built_images, remove_image

# What the rest of pipe uses, as `envs.docker.NAME` (the factory, session, inventory).
__all__ = ["DockerEnvironment", "built_images", "client", "remove_containers", "remove_image"]
