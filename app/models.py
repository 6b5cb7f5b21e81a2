"""Every package's tables, imported so ``Base.metadata`` is complete (migrations, schema checks)."""

from app.aftersales import models as aftersales  # noqa: F401
from app.catalog import models as catalog  # noqa: F401
from app.core import audit, outbox, staff  # noqa: F401
from app.insights import models as insights  # noqa: F401
from app.messages import models as messages  # noqa: F401
from app.ownership import models as ownership  # noqa: F401
from app.provenance import models as provenance  # noqa: F401
from app.rewards import models as rewards  # noqa: F401
from app.rules import models as rules  # noqa: F401
from app.scheduler import models as scheduler  # noqa: F401
from app.verify import models as verify  # noqa: F401
