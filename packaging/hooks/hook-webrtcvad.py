# The contributed hook copies metadata of a "webrtcvad" distribution; the console uses the
# "webrtcvad-wheels" build of the same module, so name that one instead.
from PyInstaller.utils.hooks import copy_metadata

datas = copy_metadata("webrtcvad-wheels")
