from graph_dpg.adapters.graph.translate import IN_REPLY_TO_PROPERTY, message_from_json


def test_in_reply_to_comes_from_pid_tag_in_reply_to_id_when_headers_lack_it():
    data = {
        "id": "m1",
        "subject": "Re: Brev",
        "internetMessageHeaders": [],
        "singleValueExtendedProperties": [
            {"id": IN_REPLY_TO_PROPERTY, "value": "<memo-abc@graph-dpg.invalid>"}
        ],
    }
    msg = message_from_json(data, "post@kommune.dk")
    assert msg.header("In-Reply-To") == "<memo-abc@graph-dpg.invalid>"


def test_a_transport_header_wins():
    data = {
        "id": "m1",
        "internetMessageHeaders": [{"name": "In-Reply-To", "value": "<a@b>"}],
        "singleValueExtendedProperties": [{"id": IN_REPLY_TO_PROPERTY, "value": "<c@d>"}],
    }
    msg = message_from_json(data, "post@kommune.dk")
    assert [h.value for h in msg.headers if h.name == "In-Reply-To"] == ["<a@b>"]
