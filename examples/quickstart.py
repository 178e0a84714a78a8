"""The Python API, from a preset to a served model, in about 30 lines.

Runs offline on the shipped tiny T5 and task; for real work use a KerasHub
preset name such as "t5_base_multi" and your own data.

    KERAS_BACKEND=jax python examples/quickstart.py
"""

import keras
import keras_hub

import keras_compacter as kc
from keras_compacter import default

preset = default.preset_path()  # or "t5_base_multi"
model = keras_hub.models.T5Seq2SeqLM.from_preset(preset)
model.preprocessor.encoder_sequence_length = 64  # KerasHub presets say 1024
model.preprocessor.decoder_sequence_length = 4
kc.inject(model, "compacter++")  # one line: the method is in, the rest frozen
kc.summary(model)  # what trains

pairs = [default.to_text_to_text(s, y) for s, y in default.read_split("train")]
x = {"encoder_text": [s for s, _ in pairs], "decoder_text": [t for _, t in pairs]}
model.compile(optimizer=keras.optimizers.AdamW(3e-3), sampler="greedy")
model.fit(x, batch_size=32, epochs=1)  # Keras's own fit and progress bar
print(model.generate(["sentence: a small domesticated carnivore"], max_length=4))

kc.save_adapter(model, "quickstart_adapter.npz")  # the per-task file, ~KB
fresh = keras_hub.models.T5Seq2SeqLM.from_preset(preset)
kc.load_adapter(fresh, "quickstart_adapter.npz")  # injects, then loads

if keras.config.backend() in ("tensorflow", "jax"):
    from keras_compacter.export import export_saved_model

    export_saved_model(fresh, "quickstart_saved_model")  # serve with TF
else:
    print("On PyTorch: keras-compacter export --preset ... --adapter ...")
