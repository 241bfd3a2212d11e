"""Every registered family's pipeline passes the shared checks of `mixins.PipelineTesterMixin`."""

import pytest

from hf_genzoo.registry import families

from .mixins import PipelineTesterMixin


class TestRegisteredPipelines(PipelineTesterMixin):
    @pytest.fixture(params=list(families().values()), ids=list(families()))
    def family(self, request):
        return request.param
