"""Slack's Block Kit limits and the tighter budgets Signoff chooses inside them."""

from __future__ import annotations

# Slack's hard limits (https://api.slack.com/reference/block-kit).
MESSAGE_BLOCKS = 50
VIEW_BLOCKS = 100
SECTION_TEXT = 3000
SECTION_FIELD = 2000
SECTION_FIELDS = 10
HEADER_TEXT = 150
BUTTON_TEXT = 75
BUTTON_VALUE = 2000
ACTIONS_ELEMENTS = 25
CONTEXT_ELEMENTS = 10
CONTEXT_TEXT = 3000
ID_LENGTH = 255  # action_id, block_id, callback_id
PRIVATE_METADATA = 3000
VIEW_TITLE = 24
VIEW_BUTTON = 24  # submit / close
INPUT_LABEL = 2000
PLACEHOLDER = 150
INPUT_MAX_LENGTH = 3000

# Signoff's own budgets: the card is read on a phone, the details modal has the rest.
REQUEST_ID = ID_LENGTH  # it rides in button values and private_metadata; keep it id-sized
ARGS_SHOWN = 20
ARG_KEY = 200
ARG_VALUE = 1000
CONTEXT_ITEM = 300
WHO = 200
NOTIFICATION_TEXT = 280
OPTION_TEXT = 75
OPTION_VALUE = 150
SELECT_OPTIONS = 100
HINT_TEXT = 2000

# Items: up to ITEMS_SHOWN on a card at about three blocks each keeps any card under 50 blocks;
# each item's name, description and arguments share one section of SECTION_TEXT.
ITEMS_SHOWN = 10
ITEM_ACTION = 150
ITEM_DESCRIPTION = 500
ITEM_ARGS_SHOWN = 10
ITEM_ARG_KEY = 100
ITEM_ARG_VALUE = 300
ITEM_MESSAGE = 1000  # a rejection reason or a response, on the card
DIFF_SHOWN = 10
DIFF_KEY = 60
DIFF_VALUE = 80
DETAILS_ITEM_LEAD = 1000  # an item's name/description/answer in the details modal
FORM_FIELDS = 90  # more properties than this: one JSON textarea instead (a modal holds 100 blocks)
FIELD_LABEL = 200
