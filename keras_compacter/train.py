"""`keras-compacter train`: fine-tune T5 with a method, keep the best adapter.

With no arguments it runs offline on the shipped default: a tiny T5
pretrained on WordNet and a WordNet supersense classification task (see
`keras_compacter/default/README.md`).
"""

import json
import os
import time


def _accuracy(predictions, targets):
    hits = sum(p.strip() == t for p, t in zip(predictions, targets))
    return 100.0 * hits / max(1, len(targets))


def main(args):
    import keras
    import keras_hub

    import keras_compacter as kc
    from keras_compacter import default

    keras.utils.set_random_seed(args.seed)
    preset = args.preset or default.preset_path()
    preprocessor = keras_hub.models.T5Seq2SeqLMPreprocessor.from_preset(
        preset,
        encoder_sequence_length=args.max_source_length,
        decoder_sequence_length=default.DECODER_SEQUENCE_LENGTH,
    )
    model = keras_hub.models.T5Seq2SeqLM.from_preset(preset, preprocessor=preprocessor)
    train = [default.to_text_to_text(s, y) for s, y in default.read_split("train")]
    valid = [default.to_text_to_text(s, y) for s, y in default.read_split("validation")]
    if not train or not valid:
        raise SystemExit("The task has an empty split; nothing to train on.")
    majority = max(
        _accuracy([t] * len(valid), [v for _, v in valid])
        for t in {t for _, t in train}
    )

    kc.inject(model, args.method)
    summary = kc.summary(model)
    method = kc.injected_method(model)
    lr = args.lr or method.default_learning_rate
    epochs = args.epochs or 3
    steps = epochs * -(-len(train) // args.batch_size)
    schedule = keras.optimizers.schedules.PolynomialDecay(
        lr, steps, end_learning_rate=0
    )
    model.compile(
        optimizer=keras.optimizers.AdamW(schedule, weight_decay=0.0),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        weighted_metrics=[],
        sampler="greedy",
    )
    os.makedirs(args.output, exist_ok=True)
    with open(os.path.join(args.output, "summary.json"), "w") as f:
        json.dump({k: v for k, v in summary.items()}, f, indent=2)
    x = {"encoder_text": [s for s, _ in train], "decoder_text": [t for _, t in train]}
    history, best = [], None
    for epoch in range(1, epochs + 1):
        start = time.time()
        fit = model.fit(x, batch_size=args.batch_size, epochs=1, verbose=1)
        outputs = model.generate(
            [s for s, _ in valid], max_length=default.DECODER_SEQUENCE_LENGTH
        )
        score = _accuracy(outputs, [t for _, t in valid])
        record = {
            "epoch": epoch,
            "loss": float(fit.history["loss"][-1]),
            "validation_accuracy": score,
            "seconds": round(time.time() - start, 1),
        }
        history.append(record)
        print(json.dumps(record))
        if best is None or score > best["validation_accuracy"]:
            best = record
            kc.save_adapter(model, os.path.join(args.output, "adapter.npz"))
        with open(os.path.join(args.output, "metrics.json"), "w") as f:
            json.dump({"epochs": history, "best": best, "majority": majority}, f)
    print(
        f"{method.name}: best validation accuracy {best['validation_accuracy']:.1f}% "
        f"(majority class {majority:.1f}%), training {summary['percent']:.3f}% "
        f"of the parameters; adapter in {args.output}/adapter.npz"
    )
    return 0
