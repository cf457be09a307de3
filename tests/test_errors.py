"""dcgan.errors: messages and reason codes carried by the exceptions."""

from dcgan.errors import DcganError, ImageRejected, ImportRejected, PathNotAllowed


def test_image_rejected_carries_reason_and_detail():
    exc = ImageRejected("too-small", "20x20")
    assert (exc.reason, exc.detail, str(exc)) == ("too-small", "20x20", "too-small: 20x20")
    assert str(ImageRejected("corrupt")) == "corrupt"


def test_every_error_is_a_dcgan_error():
    for cls in (ImageRejected, ImportRejected, PathNotAllowed):
        assert issubclass(cls, DcganError)
