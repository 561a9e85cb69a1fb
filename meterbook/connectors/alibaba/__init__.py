"""Alibaba Cloud CloudMonitor (CMS): ECS and RDS utilisation metrics via ``DescribeMetricList``."""

from meterbook.connectors.alibaba.client import CmsClient, CmsStats

__all__ = ["CmsClient", "CmsStats"]
