/**
 * MovieLens: `ratings.dat` (`user::item::rating::timestamp`, ML-1M/10M) or `ratings.csv`
 * (`userId,movieId,rating,timestamp`, ML-latest/20M/25M); ratings below `minRating` are dropped.
 * Optional `movies.dat` (`movieId::title::genres`, Latin-1 in ML-1M) or `movies.csv`
 * (`movieId,title,genres`) gives item text "title | genre, genre".
 */
import fs from 'node:fs';
import readline from 'node:readline';
import { UserError } from '../../errors.js';
import type { DataConfig } from '../../config/schema.js';
import { checkInputFile, decodeText } from './files.js';
import { parseNumberCell, readCsvLog, streamCsv } from './csv.js';
import { RawLogBuilder, type RawLog, type SourceResult } from './raw.js';

const isCsv = (file: string) => file.toLowerCase().endsWith('.csv');

/** `::`-separated ratings, streamed line by line. */
export async function readRatingsDat(file: string, minRating: number): Promise<RawLog> {
  checkInputFile(file, 'data.movielens.ratings');
  const b = new RawLogBuilder();
  const input = fs.createReadStream(file);
  const lines = readline.createInterface({ input, crlfDelay: Infinity });
  let line = 0;
  try {
    for await (const text of lines) {
      line++;
      if (text.trim() === '') continue;
      const f = text.split('::');
      if (f.length < 4) {
        throw new UserError(`${file}:${line}: expected user::item::rating::timestamp (4 fields separated by "::"), got ${JSON.stringify(text.slice(0, 80))}`);
      }
      const [user, item] = [f[0].trim(), f[1].trim()];
      if (user === '' || item === '') throw new UserError(`${file}:${line}: empty ${user === '' ? 'user' : 'item'} field`);
      const rating = parseNumberCell(f[2].trim(), file, line, 'rating', 'a numeric rating');
      const ts = parseNumberCell(f[3].trim(), file, line, 'timestamp', 'a numeric timestamp');
      if (rating >= minRating) b.add(user, item, ts);
    }
  } finally {
    lines.close();
    input.destroy();
  }
  if (b.size === 0) throw new UserError(`${file}: no ratings${minRating > 0 ? ` >= data.movielens.minRating (${minRating})` : ''}`);
  return b.build();
}

/** Titles (and genres) from movies.dat or movies.csv. */
export async function readMovies(file: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const text = (title: string, genres: string | undefined) =>
    genres && genres !== '(no genres listed)' ? `${title} | ${genres.split('|').join(', ')}` : title;
  if (isCsv(file)) {
    await streamCsv({
      file,
      fileKey: 'data.movielens.movies',
      delimiter: ',',
      required: [
        { name: 'movieId', key: 'data.movielens.movies' },
        { name: 'title', key: 'data.movielens.movies' },
      ],
      onRow: (row) => out.set(row.movieId, text(row.title, row.genres)),
    });
    return out;
  }
  checkInputFile(file, 'data.movielens.movies');
  const lines = decodeText(fs.readFileSync(file)).split(/\r?\n/);
  lines.forEach((l, k) => {
    if (l.trim() === '') return;
    const f = l.split('::');
    if (f.length < 2) throw new UserError(`${file}:${k + 1}: expected movieId::title::genres, got ${JSON.stringify(l.slice(0, 80))}`);
    out.set(f[0].trim(), text(f[1].trim(), f[2]?.trim()));
  });
  return out;
}

/** `data.source: movielens`. */
export async function readMovielensSource(cfg: DataConfig['movielens']): Promise<SourceResult> {
  if (!cfg.ratings) throw new UserError('data.movielens.ratings: required when data.source is movielens');
  const log = isCsv(cfg.ratings)
    ? await readCsvLog({
        file: cfg.ratings,
        fileKey: 'data.movielens.ratings',
        delimiter: ',',
        user: { name: 'userId', key: 'data.movielens.ratings' },
        item: { name: 'movieId', key: 'data.movielens.ratings' },
        timestamp: { name: 'timestamp', key: 'data.movielens.ratings' },
        minValue: { column: { name: 'rating', key: 'data.movielens.minRating' }, min: cfg.minRating },
      })
    : await readRatingsDat(cfg.ratings, cfg.minRating);
  return { log, itemText: cfg.movies ? await readMovies(cfg.movies) : null };
}
