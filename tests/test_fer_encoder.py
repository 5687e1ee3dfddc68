"""The JAX port of fer's FER2013 CNN against LiteRT on real faces: every layer, fed LiteRT's own input, within 1e-4;
the probabilities from the image within 1e-2 (one int8 step of LiteRT's on-the-fly quantization); the frame features FAN uses."""
import cv2
import numpy as np
import pytest

from facegps.studies.ckplus import FERModel
from facegps.data import sample_image
from facegps.studies.fer_encoder import FEREncoder, fer_input, layer_agreement, read_fer_model
from facegps.measure.landmarks import image_landmarks


@pytest.fixture(scope="module")
def faces(smile_frames):
    fer = FERModel()
    out = {}
    for name in ("face", "still_anger"):
        img = cv2.imread(str(sample_image(name)))
        out[name] = fer.crop(img, image_landmarks(img))
    for t in (0, 36):
        out[f"smile {t}"] = fer.crop(smile_frames[t], image_landmarks(smile_frames[t]))
    return out


@pytest.mark.parametrize("quant, resolver", [("litert", "auto"), ("builtin", "builtin")])
def test_every_layer_matches_litert_on_real_faces(faces, quant, resolver):
    layers, _ = read_fer_model()
    for name, crop in faces.items():
        a = layer_agreement(fer_input(crop[None]), quant, resolver)
        assert len(a) == len(layers) == 33 and a["int8"].sum() == 9
        assert (a["fed"] < 1e-4).all(), (name, a["fed"].max())
        assert a["chained"].iloc[-1] < 1e-2, (name, a["chained"].iloc[-1])       # the probabilities, from the image


def test_float_port_is_the_dequantized_network(faces):
    a = layer_agreement(fer_input(faces["face"][None]), "float", "auto")
    assert (a.loc[~a["int8"], "fed"] < 1e-4).all()                 # float layers: exact
    assert a.loc[a["int8"], "fed"].max() > 1e-3                    # int8 layers: LiteRT quantizes their input, the port does not
    assert a["chained"].iloc[-1] < 0.02                            # probabilities: within the quantization noise


def test_encoder_features_are_litert_features(faces):
    fer, enc = FERModel(), FEREncoder()
    crops = np.stack(list(faces.values()))
    f = enc.features(np.repeat(crops[..., None], 3, -1))
    assert f.shape == (len(crops), 2048)
    for crop, row in zip(crops, f):
        x = fer_input(crop[None]).reshape(fer._in["shape"])
        fer.interpreter.set_tensor(fer._in["index"], x); fer.interpreter.invoke()
        lite = fer.interpreter.get_tensor(fer._features).ravel()
        assert np.abs(row - lite).max() < 0.1 * np.abs(lite).max()     # the float path, within LiteRT's own quantization noise
