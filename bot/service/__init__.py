"""The approval service: the decision half (`approvals`) and the deadline half (`deadlines`)."""

from bot.service.approvals import ApprovalService
from bot.service.deadlines import DeadlineService
from bot.service.ports import Clock, Directory, Jobs, utcnow
from bot.service.requests import NewRequest

__all__ = ["ApprovalService", "Clock", "DeadlineService", "Directory", "Jobs", "NewRequest", "utcnow"]
